/* fuzz_ollama.c - the Ollama NDJSON stream parser (backend_ollama.h) on any bytes a model
 * server could send; the checks are check_stream.h's. */
#include "check_stream.h"

#include "backend_ollama.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return check_stream(backend_ollama_open, "ollama", data, size);
}
