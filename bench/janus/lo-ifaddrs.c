/* LD_PRELOAD shim for janus: clear IFF_LOOPBACK in getifaddrs() results.
 * Janus (src/ice.c) skips loopback interfaces when it picks the addresses
 * to gather ICE candidates on, and libnice's own fallback skips them too,
 * so 127.0.0.1 can never become a host candidate. With this shim and
 * nat.ice_enforce_list = "127.0.0.1", Janus gathers on 127.0.0.1 only.
 * Built by start.sh:  cc -shared -fPIC -O2 -o lo-ifaddrs.so lo-ifaddrs.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>

int getifaddrs(struct ifaddrs **ifap) {
	static int (*real)(struct ifaddrs **) = 0;
	if(!real)
		real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
	int ret = real(ifap);
	if(ret == 0)
		for(struct ifaddrs *i = *ifap; i; i = i->ifa_next)
			i->ifa_flags &= ~IFF_LOOPBACK;
	return ret;
}
