"""Firewall backends (nftables, iptables-nft, iptables-legacy with ipset) behind one
interface (:mod:`irtui.core.firewall.backend`), the preflight probe that chooses one per host
(:mod:`irtui.core.firewall.detect`), and the backend-neutral live state they parse."""
