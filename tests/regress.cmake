# Regression tests, one per bug found, named after the bug.
hz_suite_test(regress_large_shrink_slots
  SOURCES regress/test_large_shrink_slots.c
  LABELS regress
  TIMEOUT 120)
