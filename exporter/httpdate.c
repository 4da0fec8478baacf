/*
 * Retry-After and HTTP-date parsing (see httpdate.h).  No libc time
 * function is used: timegm is not in every libc, mktime and strptime read
 * TZ and the locale, and a date a server sends is GMT by definition.
 */
#include <errno.h>
#include <string.h>

#include "common/text.h"
#include "httpdate.h"
#include "scan.h"

#define NS_PER_S 1000000000ull

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static int scan_month(struct scan *c, int64_t *mon)
{
	struct str rest = { c->p, (size_t)(c->end - c->p) };
	int i;

	for (i = 0; i < 12; i++) {
		struct str name = { month_names[i], 3 };

		if (str_starts_nocase(rest, name)) {
			c->p += 3;
			*mon = i + 1;
			return 0;
		}
	}
	return -1;
}

static int scan_time(struct scan *c, int64_t *h, int64_t *m, int64_t *s)
{
	if (scan_digits(c, 2, 2, h) || scan_char(c, ':') ||
	    scan_digits(c, 2, 2, m) || scan_char(c, ':') ||
	    scan_digits(c, 2, 2, s))
		return -1;
	return 0;
}

static int scan_gmt(struct scan *c)
{
	if (scan_char(c, ' ') || c->end - c->p < 3 ||
	    strncmp(c->p, "GMT", 3) != 0)
		return -1;
	c->p += 3;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "Nov  6 08:49:37 1994", after "Sun ". */
static int scan_asctime(struct scan *c, int64_t *day, int64_t *mon,
			int64_t *year, int64_t *h, int64_t *m, int64_t *s)
{
	if (scan_month(c, mon) || scan_char(c, ' '))
		return -1;
	if (c->p < c->end && *c->p == ' ')
		c->p++;
	if (scan_digits(c, 1, 2, day) || scan_char(c, ' ') ||
	    scan_time(c, h, m, s) || scan_char(c, ' ') ||
	    scan_digits(c, 4, 4, year))
		return -1;
	return 0;
}

/* "06 Nov 1994 08:49:37 GMT" or "06-Nov-94 08:49:37 GMT", after the
 * day name and ", ". */
static int scan_fixdate(struct scan *c, int64_t *day, int64_t *mon,
			int64_t *year, int64_t *h, int64_t *m, int64_t *s)
{
	if (scan_digits(c, 2, 2, day))
		return -1;
	if (scan_char(c, '-') == 0) {
		if (scan_month(c, mon) || scan_char(c, '-') ||
		    scan_digits(c, 2, 2, year))
			return -1;
		/* Two-digit years: RFC 9110 asks for the most recent past
		 * year with those digits; for the dates a server sends,
		 * 70-99 is 19xx. */
		*year += *year < 70 ? 2000 : 1900;
	} else if (scan_char(c, ' ') || scan_month(c, mon) ||
		   scan_char(c, ' ') || scan_digits(c, 4, 4, year)) {
		return -1;
	}
	if (scan_char(c, ' ') || scan_time(c, h, m, s) || scan_gmt(c))
		return -1;
	return 0;
}

int httpdate_parse(const char *v, size_t len, int64_t *unix_s)
{
	struct scan c = { v, v + len };
	int64_t day, mon, year, h, m, s;
	int rc;

	while (c.p < c.end && ascii_is_alpha(*c.p))
		c.p++;
	if (c.p == v)
		return -EINVAL;
	/* A comma after the day name: IMF-fixdate or rfc850-date. */
	if (scan_char(&c, ',') == 0) {
		if (scan_char(&c, ' '))
			return -EINVAL;
		rc = scan_fixdate(&c, &day, &mon, &year, &h, &m, &s);
	} else {
		if (scan_char(&c, ' '))
			return -EINVAL;
		rc = scan_asctime(&c, &day, &mon, &year, &h, &m, &s);
	}
	if (rc || c.p != c.end)
		return -EINVAL;
	if (day < 1 || day > 31 || h > 23 || m > 59 || s > 60)
		return -EINVAL;
	*unix_s = days_from_civil(year, mon, day) * 86400 + h * 3600 +
		  m * 60 + s;
	return 0;
}

static int is_trailing_space(char ch)
{
	return ascii_is_ows(ch) || ch == '\r' || ch == '\n';
}

int httpdate_retry_after(const char *v, size_t len, int64_t now_unix,
			 uint64_t *delay_ns)
{
	const char *end = v + len;
	int64_t when;

	while (v < end && ascii_is_ows(*v))
		v++;
	while (end > v && is_trailing_space(end[-1]))
		end--;
	if (v == end)
		return -EINVAL;
	if (ascii_is_digit(*v)) {
		uint64_t secs = 0;
		const char *p;

		for (p = v; p < end; p++) {
			if (!ascii_is_digit(*p))
				return -EINVAL;
			/* Saturate instead of overflowing. */
			if (secs < HTTPDATE_MAX_DELAY_S)
				secs = secs * 10 + (uint64_t)(*p - '0');
		}
		if (secs > HTTPDATE_MAX_DELAY_S)
			secs = HTTPDATE_MAX_DELAY_S;
		*delay_ns = secs * NS_PER_S;
		return 0;
	}
	if (httpdate_parse(v, (size_t)(end - v), &when))
		return -EINVAL;
	if (when <= now_unix)
		*delay_ns = 0;
	else if (when - now_unix > HTTPDATE_MAX_DELAY_S)
		*delay_ns = HTTPDATE_MAX_DELAY_S * NS_PER_S;
	else
		*delay_ns = (uint64_t)(when - now_unix) * NS_PER_S;
	return 0;
}
