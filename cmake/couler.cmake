# Helpers shared by every module's CMakeLists.txt.

# couler_proto(<target> <file.proto>...)
#   Generates C from .proto files with protoc-c at build time (generated files
#   live in the build tree only) and builds them into a static library
#   <target> that links libprotobuf-c. Include with "<name>.pb-c.h".
function(couler_proto target)
  set(srcs)
  set(hdrs)
  foreach(p ${ARGN})
    get_filename_component(abs ${p} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    get_filename_component(name ${p} NAME_WE)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}.pb-c.c)
    set(outh ${CMAKE_CURRENT_BINARY_DIR}/${name}.pb-c.h)
    add_custom_command(
      OUTPUT ${out} ${outh}
      COMMAND ${PROTOC_C} --c_out=${CMAKE_CURRENT_BINARY_DIR}
              --proto_path=${dir} ${abs}
      DEPENDS ${abs}
      COMMENT "protoc-c ${name}.proto")
    list(APPEND srcs ${out})
    list(APPEND hdrs ${outh})
  endforeach()
  add_library(${target} STATIC ${srcs} ${hdrs})
  target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUFC)
  # Generated code is not ours to keep warning-free.
  target_compile_options(${target} PRIVATE -w)
endfunction()

# couler_unit_test(<name> SOURCES <src>... LIBS <lib>... [TIMEOUT s] [LABELS l...])
#   A cmocka test executable registered with ctest under the name <name>.
function(couler_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set(labels unit ${T_LABELS})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
    LABELS "${labels}"
    ENVIRONMENT "COULER_SOURCE_DIR=${PROJECT_SOURCE_DIR};COULER_TESTDATA=${PROJECT_SOURCE_DIR}/tests/data;COULER_BUILD_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# couler_fuzz(<name> SOURCES <src>... LIBS <lib>... CORPUS <dir>)
#   A libFuzzer target, built only with COULER_FUZZ=ON (clang). ctest runs it
#   for a short time over its seed corpus (label "fuzz"). An input that runs
#   over 30 s is a hang; the decoders' and the evaluator's own limits bound
#   legitimate work well below that (the evaluator's worst case, a closure
#   over a million elements, takes about 4 s under ASan).
function(couler_fuzz name)
  cmake_parse_arguments(F "" "CORPUS;SECONDS" "SOURCES;LIBS" ${ARGN})
  if(NOT COULER_FUZZ)
    return()
  endif()
  add_executable(${name} ${F_SOURCES})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  if(NOT F_SECONDS)
    set(F_SECONDS 20)
  endif()
  set(work ${CMAKE_CURRENT_BINARY_DIR}/${name}-corpus)
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
            ${CMAKE_CURRENT_BINARY_DIR}/${name} -max_total_time=${F_SECONDS}
            -rss_limit_mb=2048 -timeout=30 ${work} ${F_CORPUS})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 LABELS fuzz
    FIXTURES_REQUIRED ${name}-dir)
  add_test(NAME ${name}-mkdir COMMAND ${CMAKE_COMMAND} -E make_directory ${work})
  set_tests_properties(${name}-mkdir PROPERTIES FIXTURES_SETUP ${name}-dir)
endfunction()

