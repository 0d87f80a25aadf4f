# Unit tests of the benchmark comparison runner (bench/runner, Python standard
# library only): RESULT-line parsing, median/min/max, ratios to the best peer,
# lane table and option validation, samples.csv and the SVG charts, and
# linux/run_linux_bench_compare.sh end to end with stand-in programs (crash,
# timeout, bad options -> exit 2), plus bench/redis_lane.sh when redis is
# installed. A few seconds; does not need the allocator lines.
# Run just these with: ctest --test-dir build -L runner
add_test(NAME runner_unit
         COMMAND python3 -B -m unittest discover -v -s ${CMAKE_CURRENT_SOURCE_DIR}/runner -p "test_*.py")
set_tests_properties(runner_unit PROPERTIES
  LABELS runner
  TIMEOUT 120
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1"
  # unittest exits 0 when it finds no test at all: that must not pass.
  FAIL_REGULAR_EXPRESSION "Ran 0 tests")
