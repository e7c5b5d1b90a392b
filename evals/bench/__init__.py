"""Benchmarks and load tests in one place: speed figures (`speed`, docs/BENCHMARKS.md), the
Telegram channel under load (`telegram`, docs/TELEGRAM_BENCH.md), the Locust users of the
load-test flow (`locustfile`, driven by `flows.load_test`, docs/LOAD_TEST.md) and of the
Telegram benchmark (`telegram_locustfile`), and what they share: a scratch database
(`scratch_database`) and a child process that is stopped with its run (`local_process`)."""
