# Multithreaded stress tests with content verification (tests/stress/).
# Every object is filled with a pattern derived from its address, size and id
# when allocated and verified before it is freed; a mismatch fails the test.
# Each program takes an optional scale factor (argv[1], default 1) and runs a
# few seconds per variant on 2 cores; TIMEOUT only catches hangs.

hz_suite_test(stress_remote SOURCES stress/test_remote.c LABELS stress TIMEOUT 90)
hz_suite_test(stress_outlive SOURCES stress/test_outlive.c LABELS stress TIMEOUT 90)
hz_suite_test(stress_churn SOURCES stress/test_churn.c LABELS stress TIMEOUT 90)
hz_suite_test(stress_first_free SOURCES stress/test_first_free.c LABELS stress TIMEOUT 90)
hz_suite_test(stress_tls_teardown SOURCES stress/test_tls_teardown.c LABELS stress TIMEOUT 90)
hz_suite_test(stress_fork SOURCES stress/test_fork.c LABELS stress TIMEOUT 90)
