"""Record-stream profiles: how a WIM controller or weighbridge indicator frames and lays out its records."""
