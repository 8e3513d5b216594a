#ifndef REPRO_CMARIADB_SHIM_H
#define REPRO_CMARIADB_SHIM_H

#include <stddef.h>
#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <sys/socket.h>
#include <errno.h>
#include <sys/prctl.h>

// mysql_optionsv is variadic and Swift cannot call variadic C functions:
// these typed wrappers pass exactly one argument of the right type.
static inline int repro_mysql_option_uint(MYSQL *mysql, enum mysql_option option, unsigned int value) {
    return mysql_optionsv(mysql, option, &value);
}

static inline int repro_mysql_option_bool(MYSQL *mysql, enum mysql_option option, my_bool value) {
    return mysql_optionsv(mysql, option, &value);
}

static inline int repro_mysql_option_string(MYSQL *mysql, enum mysql_option option, const char *value) {
    return mysql_optionsv(mysql, option, value);
}

// mysql_library_init is a macro in Connector/C.
static inline int repro_mysql_library_init(void) {
    return mysql_library_init(0, NULL, NULL);
}

// Non-blocking peek at the connection's socket: no round trip. Returns the
// recv() result; *err receives errno when it is -1.
static inline long repro_socket_peek(int fd, int *err) {
    char byte;
    long n = (long)recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    *err = (n < 0) ? errno : 0;
    return n;
}

// prctl is variadic: PR_SET_CHILD_SUBREAPER on or off for the calling process.
static inline int repro_set_child_subreaper(int on) {
    return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)on, 0UL, 0UL, 0UL);
}

#endif
