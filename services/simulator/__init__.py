"""Realistic till traffic for the Territoires à VivreS épiceries: fictional shops, seasonal
products, solidarity prices, caisse allowances, refunds and offline tills (`vivres simulate`).

`territories` holds the data, `model` turns it into uploads (pure, deterministic by seed),
`runner` posts them to the gateway, `cli` is the command.
"""
