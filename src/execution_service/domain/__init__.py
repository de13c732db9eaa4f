"""Pure data: orders, commands, events and the wire codec. No I/O here."""
