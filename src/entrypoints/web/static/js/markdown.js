// Markdown rendered safely: raw HTML in the source is shown as text (never parsed), images become links
// (nothing is fetched from another origin), and the result goes through DOMPurify before it reaches the page.
import { Marked } from '../vendor/marked-18.2.1.esm.js';

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
  },
});

let hooked = false;

function purifier() {
  const purify = window.DOMPurify;
  if (purify && !hooked) {
    purify.addHook('afterSanitizeAttributes', (node) => {
      if (node.tagName === 'A') {
        node.setAttribute('rel', 'noopener noreferrer');
        node.setAttribute('target', '_blank');
      }
    });
    hooked = true;
  }
  return purify;
}

const CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'img', 'svg', 'math', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'video', 'audio'],
  FORBID_ATTR: ['style'],
};

export function renderMarkdown(element, text) {
  const purify = purifier();
  if (!purify) {
    element.textContent = text; // without the sanitiser, plain text: never unsanitised HTML
    return;
  }
  element.innerHTML = purify.sanitize(marked.parse(text), CONFIG);
}
