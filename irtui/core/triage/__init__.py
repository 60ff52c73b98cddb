"""Forensic triage over SSH: what to collect, how it is stored, and how it is run.

- :mod:`.catalog` — the artifact set (``artifacts.toml`` + the config's ``[triage]``), in
  order of volatility (RFC 3227), and each artifact's exact remote command.
- :mod:`.naming` — safe file and folder names from host, incident and artifact names.
- :mod:`.evidence` — one evidence folder per incident, host and collection (never
  overwritten), files 0600, manifest with SHA-256, tar.gz, chain of custody.
- :mod:`.verify` — re-checking a collection's hashes (files, manifest, sealed tar), naming
  what changed; INTACT only when the incident record vouches for the manifest.
- :mod:`.recorded` — the manifest and tar hashes the incident record holds for each
  sealed collection, and comparing a collection with them.
- :mod:`.collector` — the per-host probe, the variant and exact command of each artifact,
  and the streaming of one artifact to its files.
- :mod:`.host_collection` — one host's collection as plan steps (one per artifact, then the
  seal), holding the collection log.

The action that plans and runs a collection is :mod:`irtui.core.actions.collect`.
"""
