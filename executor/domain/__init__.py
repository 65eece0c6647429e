"""Value objects shared by every room of the daemon. No I/O lives here."""
