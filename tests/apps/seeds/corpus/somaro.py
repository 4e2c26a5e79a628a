# the mules page's somaro.py (Python 3): a programmed mule waiting for messages, with a thread
import time
from threading import Thread

import uwsgi


def loop1():
    while True:
        print("loop1: Waiting for messages... yawn.", flush=True)
        message = uwsgi.mule_get_msg()
        print(message, flush=True)


def loop2():
    print("Hi! I am loop2.", flush=True)
    while True:
        time.sleep(2)
        print("This is a thread!", flush=True)


t = Thread(target=loop2)
t.daemon = True
t.start()

if __name__ == "__main__":
    loop1()
