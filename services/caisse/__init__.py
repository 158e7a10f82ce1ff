"""The caisse alimentaire commune: allowances, redemptions at the till, the ledger, settlements.

rules.py (pure)      allowance rules, carry-over, months, the committee's decisions in force
ledger.py (pure)     one partition's accounts: requests in, ledger entries and answers out, and
                     the fold that rebuilds the accounts from the entries
reports.py (pure)    monthly settlements per shop, the treasurer's CSV, the committee's reports
service.py           the ledger's single writer per card: Kafka transactions per input partition
replies.py           request → answer over Kafka, for the gateway and the CLI
"""
