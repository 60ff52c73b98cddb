#!/bin/sh
# Remove irtui's nftables isolation table. $1 the table name (inet family).
# Safe when no isolation exists; never fails.
nft delete table inet "$1" 2>/dev/null || true
