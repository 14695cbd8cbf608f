"""`make soak`: fault injection (SIGKILL mid-session) and a bounded load run on loopback,
ending with a ledger audit. See soak/run.py."""
