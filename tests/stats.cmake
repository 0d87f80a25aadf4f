# HZ_STATS: the report at exit must match a known workload (tests/stats/).
add_executable(stats_workload stats/stats_workload.c)
target_compile_options(stats_workload PRIVATE -fno-builtin -O1 -g)
target_link_libraries(stats_workload PRIVATE Threads::Threads)
hz_suite_script(stats
  SCRIPT stats/test_stats.sh
  ARGS $<TARGET_FILE:stats_workload>
  LABELS stats
  TIMEOUT 120)
