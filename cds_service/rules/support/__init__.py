"""What several rules share: which orders are under review, evidence lines, first-line factors.

Modules here register no rules; `cds_service.rules` discovers rule modules only at its own level.
"""
