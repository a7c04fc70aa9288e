"""`pantau demo`: simulated Balikpapan sites, the real gateways and backend, an embedded broker."""
