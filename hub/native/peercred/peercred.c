/*
 * The credentials of the process at the other end of a connected Unix
 * socket (Linux SO_PEERCRED: uid, gid and pid as the kernel recorded them at
 * connect), for the control API's check that a client runs as the daemon's
 * own user. N-API, so one build serves every Node version.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

static napi_value set_number (napi_env env, napi_value obj, const char *name, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  napi_set_named_property(env, obj, name, v);
  return obj;
}

static napi_value peer (napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "peer(fd): fd must be a file descriptor");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    napi_throw_error(env, "ERR_PEERCRED", strerror(errno));
    return NULL;
  }
  napi_value obj;
  napi_create_object(env, &obj);
  set_number(env, obj, "pid", cred.pid);
  set_number(env, obj, "uid", cred.uid);
  set_number(env, obj, "gid", cred.gid);
  return obj;
}

NAPI_MODULE_INIT () {
  napi_value fn;
  napi_create_function(env, "peer", NAPI_AUTO_LENGTH, peer, NULL, &fn);
  napi_set_named_property(env, exports, "peer", fn);
  return exports;
}
