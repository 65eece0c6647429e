"""Crash trials and the stress toolkit shared with bench/ and the other stress suites."""
