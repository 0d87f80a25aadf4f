# Documentation that must match the code.
add_test(NAME docs_options COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/docs/test_options_doc.sh)
set_tests_properties(docs_options PROPERTIES LABELS docs TIMEOUT 30)
