# Conformance part of the suite: the exported API must behave like glibc's
# (tests/conformance/, prior-art.md §2 items 1-14, 23 and §3.1).

hz_suite_test(conformance_api
  SOURCES conformance/test_api.c
  LABELS conformance
  TIMEOUT 120)

# All 20 replaceable operator new/delete functions, bad_alloc, new_handler.
hz_suite_test(conformance_cxx
  SOURCES conformance/test_cxx.cpp
  LABELS conformance
  TIMEOUT 60)

# Out of memory under RLIMIT_AS: clean ENOMEM failures and recovery.
hz_suite_test(conformance_oom
  SOURCES conformance/test_oom.c
  LABELS conformance oom
  TIMEOUT 60)

# The DSO's dynamic symbol table: the full malloc surface, nothing else but
# hz_*, and no libstdc++ dependency.
hz_suite_script(conformance_exports
  SCRIPT conformance/test_exports.sh
  LABELS conformance
  TIMEOUT 30)
