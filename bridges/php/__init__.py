"""PHP: a pool of php-cgi children per worker, spoken to over FastCGI."""
