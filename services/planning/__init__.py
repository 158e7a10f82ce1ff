"""Planning a season on the shops' needs: the outlook, forward needs, crop plans, coverage."""
