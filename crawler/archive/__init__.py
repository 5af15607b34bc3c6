"""Archive maintenance: rotate, verify, import, rebuild and stats over the posts of the site."""
