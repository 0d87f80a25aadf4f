# Fast-path instruction counts per line against a golden file (callgrind).
if(TARGET bench_fastpath)
  foreach(line IN LISTS HZ_LINES)
    add_test(NAME perf_fastpath_golden.${line}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/perf/test_fastpath_golden.sh
                     $<TARGET_FILE:${line}> $<TARGET_FILE:bench_fastpath> ${line})
    set_tests_properties(perf_fastpath_golden.${line} PROPERTIES LABELS "perf;${line}" TIMEOUT 300)
  endforeach()
else()
  message(STATUS "bench_fastpath not built (HZ_BUILD_BENCH=OFF): no fast-path golden test")
endif()
