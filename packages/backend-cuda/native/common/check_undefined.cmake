# Post-build check: the addon must not leave any of our own native symbols undefined (Node loads
# add-ons lazily, so a missing GEMM symbol would otherwise crash at the first call, not at load).
execute_process(COMMAND nm -u -C ${ADDON} OUTPUT_VARIABLE undefined RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(WARNING "nm failed on ${ADDON}; undefined-symbol check skipped")
  return()
endif()
string(REGEX MATCHALL "[^\n]*(zipgemm|dense_gemm|tca_decompress|choose_gemm_path|gemm_workspace_bytes|run_gemm_bench|zipserv::)[^\n]*" missing "${undefined}")
if(missing)
  file(REMOVE ${ADDON})
  string(REPLACE ";" "\n" missing "${missing}")
  message(FATAL_ERROR "zipserv_cuda.node has undefined native symbols (is native/gemm complete?):\n${missing}")
endif()
