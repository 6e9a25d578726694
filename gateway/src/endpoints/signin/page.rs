//! The small HTML pages sign-in shows when it cannot finish: a title, an explanation
//! and a way back. Everything interpolated is escaped.

use bytes::Bytes;

use crate::answer::Answer;

use vaultgate_shared::html::escape;

/// A page explaining what happened, with links to the start page and to sign in again.
pub fn message(status: u16, title: &str, message: &str) -> Answer {
    let (title, message) = (escape(title), escape(message));
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · vaultgate</title><link rel=\"icon\" href=\"/static/icon.svg\"><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body><main class=\"narrow\"><h1>{title}</h1><p role=\"alert\">{message}</p>\
         <p><a class=\"button\" href=\"/\">Back to the start page</a></p></main></body></html>\n"
    );
    crate::endpoints::web::secure(Answer::raw(status, "text/html; charset=utf-8", Bytes::from(html)))
}
