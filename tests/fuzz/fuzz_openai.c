/* fuzz_openai.c - the OpenAI SSE stream parser (backend_openai.h) on any bytes a model
 * server could send; the checks are check_stream.h's. */
#include "check_stream.h"

#include "backend_openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return check_stream(backend_openai_open, "openai", data, size);
}
