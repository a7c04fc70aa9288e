"""Device profiles as configuration: what one product measures and how it speaks (a Modbus register map or
a record format), pure models and their file loader, no I/O beyond reading the file. The drivers run them;
the backend reads them to know each device's channels and units."""
