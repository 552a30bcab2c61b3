"""Real-wire fakes of the outside systems no real server can stand in for here."""
