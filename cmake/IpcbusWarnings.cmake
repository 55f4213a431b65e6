# SPDX-License-Identifier: Apache-2.0
# ipcbus_set_warnings(<target>): the warning set every ipcbus target builds with.
function(ipcbus_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion -Wnon-virtual-dtor)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # gcc 12 at -O3 reports std::string's operator+ as overlapping memcpy (a known false
    # positive, gcc bug 105329), in our code and in the test framework's headers alike.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(IPCBUS_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
