def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "slow: takes more than 20 s (starts servers and processes)")
