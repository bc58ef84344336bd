#ifndef CHTTPPARSER_SHIM_H
#define CHTTPPARSER_SHIM_H
#include <http_parser.h>

/* The parser keeps these in C bit fields; small accessors keep Swift off the layout. */
static inline unsigned chp_method(const http_parser *p) { return p->method; }
static inline unsigned chp_errno(const http_parser *p) { return p->http_errno; }
static inline int chp_upgrade(const http_parser *p) { return p->upgrade ? 1 : 0; }
static inline int chp_is_chunked(const http_parser *p) { return (p->flags & F_CHUNKED) ? 1 : 0; }
/* content_length is ULLONG_MAX while no Content-Length header was seen. */
static inline uint64_t chp_content_length(const http_parser *p) { return p->content_length; }
#endif
