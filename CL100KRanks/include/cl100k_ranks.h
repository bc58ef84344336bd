#ifndef CL100K_RANKS_H
#define CL100K_RANKS_H
/// The bytes of the cl100k_base.tiktoken ranks file.
const unsigned char *cl100k_ranks_bytes(void);
unsigned long cl100k_ranks_size(void);
#endif
