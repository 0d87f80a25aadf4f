# Regression tests, one per bug found, named after the bug.
hz_suite_test(regress_large_shrink_slots
  SOURCES regress/test_large_shrink_slots.c
  LABELS regress
  TIMEOUT 120)
hz_suite_test(regress_scratch_sharing
  SOURCES regress/test_scratch_sharing.c
  LABELS regress
  TIMEOUT 60)
hz_suite_test(regress_idle_purge
  SOURCES regress/test_idle_purge.c
  LABELS regress
  TIMEOUT 60)
hz_suite_test(regress_interior_purge
  SOURCES regress/test_interior_purge.c
  LABELS regress
  TIMEOUT 60)
hz_suite_test(regress_hz4_slice_purge
  SOURCES regress/test_hz4_slice_purge.c
  LABELS regress
  TIMEOUT 60)
hz_suite_test(regress_purger_start
  SOURCES regress/test_purger_start.c
  LIBS ${CMAKE_DL_LIBS} -rdynamic
  LABELS regress
  TIMEOUT 60)
hz_suite_test(regress_solo_return
  SOURCES regress/test_solo_return.c
  LABELS regress
  TIMEOUT 60)
hz_suite_test(regress_warm_park_purge
  SOURCES regress/test_warm_park_purge.c
  LABELS regress
  TIMEOUT 60)
hz_suite_test(regress_idle_drain
  SOURCES regress/test_idle_drain.c
  LABELS regress
  TIMEOUT 60)
hz_suite_test(regress_purge_delay_zero
  SOURCES regress/test_purge_delay_zero.c
  LABELS regress
  TIMEOUT 60)
