"""Benchmarks and load tests in one place: speed figures (`speed`, docs/BENCHMARKS.md); the load
test's machinery, its Locust users and its benchmark (`load_test`, `locustfile`,
docs/LOAD_TEST.md; `flows.load_test` is the Prefect flow over them); the Telegram channel under
load (`telegram`, `telegram_locustfile`, docs/TELEGRAM_BENCH.md); and what they share: a
scratch database (`scratch_database`) and a child process stopped with its run
(`local_process`)."""
