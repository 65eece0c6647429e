"""Execution: accepted decisions become exchange orders; positions are followed and booked."""
