"""CGI (RFC 3875): one process per request, and the CGI response parser PHP shares."""
