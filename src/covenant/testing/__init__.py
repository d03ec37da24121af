"""What users (and our own tests) need to test against Covenant: real services
started as local processes, no fakes."""
