"""Email adapters: where a rendered message goes (.eml files, an SMTP server, Amazon SES) and the Jinja2
templates that render it. The composition root picks one mailer from PARLEY_EMAIL_BACKEND."""
