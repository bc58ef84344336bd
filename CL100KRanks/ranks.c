// The cl100k_base ranks file, compiled into the binary: no resource bundle to install beside
// the executable and no file to find at run time. (sha256 223921b7...b2a7)
#include "cl100k_ranks.h"

static const unsigned char ranks[] = {
#embed "cl100k_base.tiktoken"
};

const unsigned char *cl100k_ranks_bytes(void) { return ranks; }
unsigned long cl100k_ranks_size(void) { return sizeof(ranks); }
