/* placeholder: to be written */
typedef int conduit_placeholder_src_nft_probe_c;
