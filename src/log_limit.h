/*-------------------------------------------------------------------------
 * log_limit.h
 *	  Logging a recurring problem at most once a minute (log_limit.c).
 *
 * IDENTIFICATION	src/log_limit.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_LOG_LIMIT_H
#define MANTIS_LOG_LIMIT_H

/* how long the same problem stays quiet once logged */
#define MANTIS_LOG_REPEAT_MS	60000

extern bool mantis_log_due(const void *who, const char *what);

#endif							/* MANTIS_LOG_LIMIT_H */
