/* placeholder: to be written */
typedef int conduit_placeholder_src_sys_daemon_c;
