# Writes a C++ source that holds a text file as a string constant, so that the file stays
# the one source of what it says (cmake -DINPUT=file -DOUTPUT=file.cpp -DNAME=kName
# -DNAMESPACE=ns -P embed_text.cmake). The text must not contain the raw-string delimiter.
file(READ "${INPUT}" text)
string(FIND "${text}" ")ringlite_text\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )ringlite_text\"")
endif()
get_filename_component(source "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${source} by cmake/embed_text.cmake. Do not edit: edit ${source}.\n"
  "namespace ${NAMESPACE} {\n"
  "extern const char* const ${NAME};\n"
  "const char* const ${NAME} = R\"ringlite_text(${text})ringlite_text\";\n"
  "}  // namespace ${NAMESPACE}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
