/*-------------------------------------------------------------------------
 * replication/news.h
 *	  What a greeting to a peer would tell it that it does not know yet
 *	  (replication/news.c).
 *
 * IDENTIFICATION	src/replication/news.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_NEWS_H
#define MANTIS_NEWS_H

#include "replication/peers.h"

/* replication/horizon.c */
extern void mantis_news_stable(uint64 our_stable);
extern void mantis_news_greeted(void);
extern void mantis_news_ticked(void);

/* replication/protocol.c */
extern bool mantis_news_for(const Peer *peer);
extern void mantis_news_told(Peer *peer);
extern bool mantis_news_retick(void);

#endif							/* MANTIS_NEWS_H */
