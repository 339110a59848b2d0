/* placeholder: to be written */
typedef int conduit_placeholder_src_sys_privdrop_c;
