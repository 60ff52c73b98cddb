"""Firewall backends. Each backend builds commands, and parses the live state it reads back.

Issue 2 ships nftables; iptables/ipset backends plug in behind the same functions.
"""
